"""The Locust side of the harness: the only package that imports locust or gevent.

Import order matters: `import locust` monkey-patches the process, so `locustfile.py` imports it first and
nothing outside this package imports from here.
"""
