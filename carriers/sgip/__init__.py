"""SGIP 1.2 (China Unicom): the codec, the sequence numbers and the sessions of both
connections (the SP's submit connection to the SMG, and the SMG's connection back to the SP)."""
