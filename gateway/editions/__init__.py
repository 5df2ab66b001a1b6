"""Editions: what subscribers receive, built from the day's articles.

Pure, no I/O: ``selection`` (which articles, in which order), ``segmentation`` (long SMS with
UDH), ``sms_digest`` (fitting a digest into N short messages), ``wsp`` (WSP value encodings),
``mms`` (SMIL and the m-retrieve-conf PDU, fitted to a size limit) and ``wap_push``
(m-notification-ind in a WSP push, cut into binary short messages).  On the database: ``build``
renders every carrier's SMS digest and MMS once and stores the octets, ``renders`` reads them
back, and ``content_server`` serves the stored MMS to handsets over HTTP.
"""
