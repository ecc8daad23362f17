<?xml version="1.0" encoding="UTF-8"?>
<!-- A canonical Order (urn:busway:canonical:1) to a canonical Invoice.
     Parameters: invoice-number (default INV-<orderNumber>), issue-date (default today, UTC),
     payment-days (default 14: dueDate = issueDate + payment-days, with EXSLT date:add). -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:c="urn:busway:canonical:1"
    xmlns:date="http://exslt.org/dates-and-times"
    extension-element-prefixes="date"
    exclude-result-prefixes="c">
  <xsl:output method="xml" encoding="UTF-8" indent="yes"/>

  <xsl:param name="invoice-number" select="''"/>
  <xsl:param name="issue-date" select="''"/>
  <xsl:param name="payment-days" select="14"/>

  <xsl:template match="/c:Order">
    <xsl:variable name="issue">
      <xsl:choose>
        <xsl:when test="string($issue-date) != ''"><xsl:value-of select="$issue-date"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="substring(date:date(), 1, 10)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="shipping" select="sum(c:totals/c:shipping)"/>
    <xsl:variable name="discount" select="sum(c:totals/c:discount)"/>
    <Invoice xmlns="urn:busway:canonical:1">
      <invoiceNumber>
        <xsl:choose>
          <xsl:when test="string($invoice-number) != ''"><xsl:value-of select="$invoice-number"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="concat('INV-', c:orderNumber)"/></xsl:otherwise>
        </xsl:choose>
      </invoiceNumber>
      <issueDate><xsl:value-of select="$issue"/></issueDate>
      <dueDate><xsl:value-of select="substring(date:add($issue, concat('P', $payment-days, 'D')), 1, 10)"/></dueDate>
      <orderNumber><xsl:value-of select="c:orderNumber"/></orderNumber>
      <currency><xsl:value-of select="c:currency"/></currency>
      <xsl:copy-of select="c:customer"/>
      <billingAddress>
        <xsl:choose>
          <xsl:when test="c:billingAddress"><xsl:copy-of select="c:billingAddress/*"/></xsl:when>
          <xsl:otherwise><xsl:copy-of select="c:shippingAddress/*"/></xsl:otherwise>
        </xsl:choose>
      </billingAddress>
      <xsl:copy-of select="c:lines"/>
      <totals>
        <net><xsl:value-of select="format-number(c:totals/c:subtotal + $shipping - $discount, '0.00')"/></net>
        <tax><xsl:value-of select="format-number(c:totals/c:tax, '0.00')"/></tax>
        <gross><xsl:value-of select="format-number(c:totals/c:total, '0.00')"/></gross>
      </totals>
    </Invoice>
  </xsl:template>
</xsl:stylesheet>
