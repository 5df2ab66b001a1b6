"""Editions: what a subscriber receives.

Pure encoders, no I/O: ``gsm7`` (GSM 03.38 alphabet), ``segmentation`` (long SMS with UDH),
``sms_digest`` (fitting a digest into N short messages), ``wsp`` (WSP value encodings), ``mms``
(SMIL and the m-retrieve-conf PDU, fitting to a size limit) and ``wap_push`` (m-notification-ind
in a WSP push, cut into binary short messages).
"""
