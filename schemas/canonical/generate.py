#!/usr/bin/env python3
# Writes the canonical model (version 1) as JSON Schema and XSD from the one definition
# below, so the two stay twins. Run it after changing the model: python3 generate.py
import json, collections
import os
OUT=os.path.dirname(os.path.abspath(__file__))+'/'
NS='urn:busway:canonical:1'
BASE='https://busway.dev/schemas/canonical/1/'
# field: (name, kind, required, doc) ; kind: str|text|amount|rate|qty|posint|date|datetime|currency|country|email|bool|weight|('enum',[...])|('ref',Type)|('list',Type,itemElement)
T=collections.OrderedDict()
T['Address']=('A postal address.',[
 ('name','str',False,'Recipient or company name as printed on the label'),
 ('street','str',True,'Street and house number'),
 ('street2','str',False,'Second address line'),
 ('postalCode','str',True,'Postal code'),
 ('city','str',True,'City'),
 ('region','str',False,'State, province or county'),
 ('country','country',True,'ISO 3166-1 alpha-2 country code, e.g. DE'),
])
T['Customer']=('A customer (the buyer).',[
 ('customerId','str',False,'The customer number in the CRM; absent for guest orders'),
 ('email','email',True,'E-mail address'),
 ('name','str',True,'Full name'),
 ('company','str',False,'Company name'),
 ('phone','str',False,'Phone number, free format'),
 ('billingAddress',('ref','Address'),False,'Default billing address'),
 ('shippingAddress',('ref','Address'),False,'Default shipping address'),
])
T['Product']=('A product of the catalogue.',[
 ('sku','sku',True,'Stock keeping unit: upper-case letters, digits and dashes'),
 ('name','str',True,'Product name'),
 ('description','text',False,'Longer description'),
 ('gtin','gtin',False,'GTIN/EAN, 8 to 14 digits'),
 ('unitPrice','amount',True,'Price of one unit, net'),
 ('currency','currency',True,'ISO 4217 currency code of unitPrice'),
 ('taxRate','rate',False,'Tax rate as a fraction, e.g. 0.19'),
 ('weightKg','weight',False,'Weight of one unit in kilograms'),
 ('active','bool',False,'Whether the product can be ordered'),
])
T['OrderLine']=('One line of an order or an invoice.',[
 ('lineNumber','posint',True,'1, 2, 3 ... in the order'),
 ('sku','sku',True,'The product ordered'),
 ('description','str',False,'Product name as shown to the customer'),
 ('quantity','posint',True,'Units ordered'),
 ('unitPrice','amount',True,'Price of one unit, net'),
 ('taxRate','rate',False,'Tax rate as a fraction, e.g. 0.19'),
 ('lineTotal','amount',True,'quantity x unitPrice, net'),
])
T['OrderTotals']=('The totals of an order.',[
 ('subtotal','amount',True,'Sum of the line totals, net'),
 ('shipping','amount',False,'Shipping cost, net'),
 ('discount','amount',False,'Discount granted, net (a positive amount)'),
 ('tax','amount',True,'Tax'),
 ('total','amount',True,'What the customer pays: subtotal + shipping - discount + tax'),
])
T['Order']=('A customer order, e.g. from a web shop.',[
 ('orderNumber','id',True,'The order number, unique per source system'),
 ('createdAt','datetime',True,'When the order was placed (RFC 3339)'),
 ('updatedAt','datetime',False,'When the order last changed'),
 ('status',('enum',['new','confirmed','shipped','completed','cancelled']),False,'Order status; new when absent'),
 ('channel','str',False,'Where it came from, e.g. web-shop'),
 ('currency','currency',True,'ISO 4217 code; all amounts of the order are in it'),
 ('customer',('ref','Customer'),True,'The buyer'),
 ('billingAddress',('ref','Address'),False,'Billing address; the shipping address when absent'),
 ('shippingAddress',('ref','Address'),True,'Where the goods go'),
 ('lines',('list','OrderLine','line'),True,'The order lines, at least one'),
 ('totals',('ref','OrderTotals'),True,'The totals'),
 ('paymentMethod',('enum',['card','paypal','invoice','bank-transfer','cash-on-delivery']),False,'How the customer pays'),
 ('notes','text',False,'Customer notes'),
])
T['InvoiceTotals']=('The totals of an invoice.',[
 ('net','amount',True,'Sum of the line totals plus shipping minus discount, net'),
 ('tax','amount',True,'Tax'),
 ('gross','amount',True,'Amount due: net + tax'),
])
T['Invoice']=('An invoice for an order.',[
 ('invoiceNumber','id',True,'The invoice number'),
 ('issueDate','date',True,'Date of issue'),
 ('dueDate','date',False,'Payment due date'),
 ('orderNumber','id',True,'The order invoiced'),
 ('currency','currency',True,'ISO 4217 code'),
 ('customer',('ref','Customer'),True,'Who is invoiced'),
 ('billingAddress',('ref','Address'),True,'The address on the invoice'),
 ('lines',('list','OrderLine','line'),True,'The invoiced lines, at least one'),
 ('totals',('ref','InvoiceTotals'),True,'The totals'),
])
T['ShipmentLine']=('A product and quantity in a shipment.',[
 ('sku','sku',True,'The product'),
 ('quantity','posint',True,'Units shipped'),
])
T['Shipment']=('A shipment of (part of) an order.',[
 ('shipmentId','id',True,'The shipment number'),
 ('orderNumber','id',True,'The order shipped'),
 ('carrier','str',True,'Carrier, e.g. DHL'),
 ('service','str',False,'Carrier service, e.g. express'),
 ('trackingNumber','str',False,'Tracking number'),
 ('status',('enum',['pending','shipped','delivered','returned']),True,'Shipment status'),
 ('shippedAt','datetime',False,'When it left the warehouse'),
 ('shipTo',('ref','Address'),True,'Delivery address'),
 ('weightKg','weight',False,'Total weight in kilograms'),
 ('lines',('list','ShipmentLine','line'),True,'What is in it, at least one line'),
])
T['Payment']=('A payment for an order.',[
 ('paymentId','id',True,'The payment id of the payment provider'),
 ('orderNumber','id',True,'The order paid'),
 ('method',('enum',['card','paypal','invoice','bank-transfer','cash-on-delivery']),True,'Payment method'),
 ('status',('enum',['authorized','captured','refunded','failed']),True,'Payment status'),
 ('amount','amount',True,'Amount'),
 ('currency','currency',True,'ISO 4217 code'),
 ('paidAt','datetime',False,'When it was captured'),
 ('transactionRef','str',False,'Reference of the payment provider'),
])
FILES={'common':['Address','OrderTotals','InvoiceTotals','ShipmentLine'],'customer':['Customer'],'product':['Product'],'order-line':['OrderLine'],
 'order':['Order'],'invoice':['Invoice'],'shipment':['Shipment'],'payment':['Payment']}
FILE_OF={t:f for f,ts in FILES.items() for t in ts}
def jsonkind(kind, here):
  if isinstance(kind,tuple):
    if kind[0]=='enum': return {'type':'string','enum':kind[1]}
    if kind[0]=='ref': return {'$ref':ref(kind[1],here)}
    if kind[0]=='list': return {'type':'array','minItems':1,'items':{'$ref':ref(kind[1],here)}}
  return {'$ref':'common-1.schema.json#/$defs/'+SIMPLE[kind][0] if here!='common' else '#/$defs/'+SIMPLE[kind][0]}
def ref(t,here):
  f=FILE_OF[t]
  if f==here: return '#' if FILES[f][0]==t and f!='common' else '#/$defs/'+t
  return f+'-1.schema.json' + ('' if f!='common' else '#/$defs/'+t)
# simple kinds: (defName, json schema, xsd restriction)
SIMPLE={
 'str':('Text',{'type':'string','minLength':1,'maxLength':200},('xs:string',[('minLength','1'),('maxLength','200')])),
 'text':('LongText',{'type':'string','maxLength':4000},('xs:string',[('maxLength','4000')])),
 'id':('Identifier',{'type':'string','minLength':1,'maxLength':64,'pattern':'^[A-Za-z0-9][A-Za-z0-9._/-]*$'},('xs:string',[('minLength','1'),('maxLength','64'),('pattern','[A-Za-z0-9][A-Za-z0-9._/\\-]*')])),
 'sku':('Sku',{'type':'string','pattern':'^[A-Z0-9][A-Z0-9-]{1,31}$'},('xs:string',[('pattern','[A-Z0-9][A-Z0-9\\-]{1,31}')])),
 'gtin':('Gtin',{'type':'string','pattern':'^[0-9]{8,14}$'},('xs:string',[('pattern','[0-9]{8,14}')])),
 'amount':('Amount',{'type':'number','minimum':0},('xs:decimal',[('minInclusive','0')])),
 'rate':('TaxRate',{'type':'number','minimum':0,'maximum':1},('xs:decimal',[('minInclusive','0'),('maxInclusive','1')])),
 'weight':('Weight',{'type':'number','minimum':0},('xs:decimal',[('minInclusive','0')])),
 'posint':('PositiveInteger',{'type':'integer','minimum':1},('xs:positiveInteger',[])),
 'date':('Date',{'type':'string','format':'date'},('xs:date',[])),
 'datetime':('Timestamp',{'type':'string','format':'date-time'},('xs:dateTime',[])),
 'currency':('CurrencyCode',{'type':'string','pattern':'^[A-Z]{3}$'},('xs:string',[('pattern','[A-Z]{3}')])),
 'country':('CountryCode',{'type':'string','pattern':'^[A-Z]{2}$'},('xs:string',[('pattern','[A-Z]{2}')])),
 'email':('Email',{'type':'string','format':'email','maxLength':254},('xs:string',[('maxLength','254'),('pattern','[^@\\s]+@[^@\\s]+\\.[^@\\s]+')])),
 'bool':('Flag',{'type':'boolean'},('xs:boolean',[])),
}
SIMPLE_DOCS={'Text':'Text of 1 to 200 characters.','LongText':'Text of up to 4000 characters.','Identifier':'An identifier: letters, digits, . _ / -, 1 to 64 characters.',
 'Sku':'A stock keeping unit.','Gtin':'A GTIN/EAN of 8 to 14 digits.','Amount':'A money amount (decimal, at least 0) in the currency of the document.',
 'TaxRate':'A tax rate as a fraction from 0 to 1.','Weight':'A weight in kilograms.','PositiveInteger':'A whole number of at least 1.','Date':'A calendar date, YYYY-MM-DD.',
 'Timestamp':'An RFC 3339 date-time with a zone, e.g. 2026-03-01T10:15:00Z.','CurrencyCode':'An ISO 4217 currency code, e.g. EUR.','CountryCode':'An ISO 3166-1 alpha-2 country code, e.g. DE.',
 'Email':'An e-mail address.','Flag':'true or false.'}
def object_schema(t, here):
  doc, fields = T[t]
  props=collections.OrderedDict()
  for name,kind,req,fdoc in fields:
    s=dict(jsonkind(kind,here)); s['description']=fdoc
    props[name]=s
  return collections.OrderedDict([('type','object'),('description',doc),('required',[f[0] for f in fields if f[2]]),('properties',props),('additionalProperties',False)])
for f,ts in FILES.items():
  if f=='common':
    defs=collections.OrderedDict()
    for kind,(name,js,_) in SIMPLE.items():
      d=dict(js); d['description']=SIMPLE_DOCS[name]; defs[name]=d
    for t in ts: defs[t]=object_schema(t,'common')
    doc=collections.OrderedDict([('$schema','https://json-schema.org/draft/2020-12/schema'),('$id',BASE+'common-1.schema.json'),('title','busway canonical model 1: common types'),('$defs',defs)])
  else:
    t=ts[0]
    doc=collections.OrderedDict([('$schema','https://json-schema.org/draft/2020-12/schema'),('$id',BASE+f+'-1.schema.json'),('title','busway canonical model 1: '+t)])
    doc.update(object_schema(t,f))
  open(OUT+f+'-1.schema.json','w').write(json.dumps(doc,indent=2)+'\n')
# ---- XSD
def esc(s): return s.replace('&','&amp;').replace('<','&lt;').replace('"','&quot;')
def xtype(kind):
  if isinstance(kind,tuple):
    if kind[0]=='ref': return 'c:'+kind[1]
    if kind[0]=='list': return 'c:'+kind[1]+'List'
    if kind[0]=='enum': return None
  return 'c:'+SIMPLE[kind][0]
def complex_xsd(t):
  doc, fields = T[t]
  out=['  <xs:complexType name="%s">'%t,'    <xs:annotation><xs:documentation>%s</xs:documentation></xs:annotation>'%esc(doc),'    <xs:all>']
  for name,kind,req,fdoc in fields:
    ty=xtype(kind)
    occ='' if req else ' minOccurs="0"'
    if ty is None:
      out.append('      <xs:element name="%s"%s>'%(name,occ))
      out.append('        <xs:annotation><xs:documentation>%s</xs:documentation></xs:annotation>'%esc(fdoc))
      out.append('        <xs:simpleType><xs:restriction base="xs:string">'+''.join('<xs:enumeration value="%s"/>'%v for v in kind[1])+'</xs:restriction></xs:simpleType>')
      out.append('      </xs:element>')
    else:
      out.append('      <xs:element name="%s" type="%s"%s>'%(name,ty,occ))
      out.append('        <xs:annotation><xs:documentation>%s</xs:documentation></xs:annotation>'%esc(fdoc))
      out.append('      </xs:element>')
  out+=['    </xs:all>','  </xs:complexType>']
  for name,kind,req,fdoc in fields:
    if isinstance(kind,tuple) and kind[0]=='list' and not LISTS.get(kind[1]):
      LISTS[kind[1]]=kind[2]
  return out
LISTS={}
def header(title, includes):
  h=['<?xml version="1.0" encoding="UTF-8"?>','<!-- busway canonical model, version 1: %s. The JSON Schema twin is %s. -->'%(title, title.lower().replace(' ','-')+'-1.schema.json'),
     '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:c="%s" targetNamespace="%s"'%(NS,NS),'           elementFormDefault="qualified" version="1">']
  for i in includes: h.append('  <xs:include schemaLocation="%s-1.xsd"/>'%i)
  return h
# common.xsd: simple types, Address, totals, ShipmentLine, and list types
common=header('common types',[])
common[1]='<!-- busway canonical model, version 1: common types (common-1.schema.json is the JSON twin). -->'
for kind,(name,js,(base,facets)) in SIMPLE.items():
  common.append('  <xs:simpleType name="%s">'%name)
  common.append('    <xs:annotation><xs:documentation>%s</xs:documentation></xs:annotation>'%esc(SIMPLE_DOCS[name]))
  common.append('    <xs:restriction base="%s">'%base+''.join('<xs:%s value="%s"/>'%(k,esc(v)) for k,v in facets)+'</xs:restriction>')
  common.append('  </xs:simpleType>')
bodies={}
for f,ts in FILES.items():
  lines=[]
  for t in ts: lines+=complex_xsd(t)
  bodies[f]=lines
for t,item in LISTS.items():
  f=FILE_OF[t]
  bodies[f]+=['  <xs:complexType name="%sList">'%t,'    <xs:annotation><xs:documentation>One or more %s elements.</xs:documentation></xs:annotation>'%item,
     '    <xs:sequence>','      <xs:element name="%s" type="c:%s" maxOccurs="unbounded">'%(item,t),
     '        <xs:annotation><xs:documentation>One %s.</xs:documentation></xs:annotation>'%t,'      </xs:element>','    </xs:sequence>','  </xs:complexType>']
deps={'common':[],'customer':['common'],'product':['common'],'order-line':['common'],'order':['common','customer','order-line'],'invoice':['common','customer','order-line'],'shipment':['common'],'payment':['common']}
for f,ts in FILES.items():
  if f=='common': lines=common+bodies['common']
  else:
    t=ts[0]
    lines=header(t, deps[f])
    lines[1]='<!-- busway canonical model, version 1: %s (%s-1.schema.json is the JSON twin). -->'%(t,f)
    lines+=['  <xs:element name="%s" type="c:%s">'%(t,t),'    <xs:annotation><xs:documentation>%s</xs:documentation></xs:annotation>'%esc(T[t][0]),'  </xs:element>']
    lines+=bodies[f]
  lines.append('</xs:schema>')
  open(OUT+f+'-1.xsd','w').write('\n'.join(lines)+'\n')
print('ok')
