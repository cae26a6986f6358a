"""The multichannel messaging dialect (seed 002): `POST /resources/v1/messaging`,
`GET /resources/v1/messaging/status/{transid}`, header `key: <service key>`.

parse.py turns a request into a plan (and names every problem), views.py authenticates,
calls the send service and answers, render.py builds the seed's envelopes, errors.py is
the one place that maps problems to the seed's 70xx codes.
"""
