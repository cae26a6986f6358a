"""A stand-in asyncio transport for the bench clients' parser tests: it records writes."""


class Transport:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return False

    def close(self):
        self.written.append(b"<closed>")
