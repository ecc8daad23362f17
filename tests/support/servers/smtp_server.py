#!/usr/bin/python3
"""A real SMTP server for busway's tests (aiosmtpd, Debian's python3-aiosmtpd).

Writes every mail it accepts into --maildir as N.eml (the DATA as received) next to
N.json ({"from": ..., "to": [...], "login": ..., "tls": ...}), each written under a
temporary name and renamed, so a reader never sees half a file. Prints "ready PORT" once it
accepts connections and runs until SIGTERM/SIGINT.

  --tls-cert/--tls-key   offer STARTTLS with this certificate (--require-tls: insist on it)
  --implicit-tls         TLS from the first byte (smtps) instead of STARTTLS
  --user/--password      offer AUTH LOGIN and PLAIN and require it
  --reject CODE          answer every RCPT TO with CODE (e.g. 550) and a text
"""
import argparse
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, maildir, reject):
        self.maildir = maildir
        self.reject = reject
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject:
            return f"{self.reject} 5.1.1 <{address}>: mailbox unavailable (test server rejects everything)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        meta = {"from": envelope.mail_from, "to": envelope.rcpt_tos, "login": login,
                "tls": server.transport.get_extra_info("ssl_object") is not None}
        for name, data in ((f"{n}.json", json.dumps(meta).encode()), (f"{n}.eml", envelope.original_content)):
            tmp = os.path.join(self.maildir, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(self.maildir, name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--require-tls", action="store_true")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--reject")
    args = parser.parse_args()

    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user
                and auth_data.password.decode() == args.password):
            return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)

    kwargs = {}
    if context is not None and args.implicit_tls:
        kwargs["ssl_context"] = context
    elif context is not None:
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = args.require_tls
    if args.user:
        kwargs["authenticator"] = authenticator
        kwargs["auth_required"] = True
        kwargs["auth_require_tls"] = False
    controller = Controller(Handler(args.maildir, args.reject), hostname="127.0.0.1", port=args.port,
                            server_hostname="localhost", **kwargs)
    controller.start()
    print(f"ready {args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
