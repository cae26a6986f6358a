"""The smtp connector: email over an SMTP server through Django's email backend."""
