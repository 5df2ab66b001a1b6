"""Editions: what subscribers receive, built from the day's articles.

Pure, no I/O: ``selection`` (which articles, in which order), ``rendering`` (an edition's SMS
digest and MMS for one carrier, from its content), ``segmentation`` (long SMS with UDH),
``sms_digest`` (fitting a digest into N short messages), ``wsp`` (WSP value encodings),
``mms`` (SMIL and the m-retrieve-conf PDU, fitted to a size limit) and ``wap_push``
(m-notification-ind in a WSP push, cut into binary short messages). Files: ``images`` loads
an article's local image through Pillow. On the database: ``build`` plans an edition, loads
its images outside any transaction, then renders every carrier's SMS digest and MMS once and
stores the octets; ``stored`` loads stored editions back; ``content_server`` serves the stored
MMS to handsets over HTTP, through read-only connections.
"""
