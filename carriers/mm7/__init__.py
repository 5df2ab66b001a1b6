"""MM7 (3GPP TS 23.140): SOAP over HTTP between a VASP (the gateway) and a carrier's MMSC.

``statuses`` (status codes and what they mean for a submit), ``soap`` (the envelope and
faults, lxml), ``mime`` (multipart/related, Python's ``email``), ``codec`` (the requests and
responses as typed values): all pure. ``client`` submits over twisted.web; ``endpoint`` is
the gateway's own MM7 endpoint (delivery reports, MO MMS).
"""
