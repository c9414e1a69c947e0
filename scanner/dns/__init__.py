"""Talking DNS: the engines (c-ares, aiodns, dnspython for what c-ares cannot
send), the wire reader for direct queries, pacing and the retry layer.

Above it, `scanner.scan` asks questions through `scanner.core.lookups`'
`Resolver` protocol; below it is the network.
"""
