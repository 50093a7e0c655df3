"""One file per toxic, each registering itself under its wire name (= file name = `type_name`).

Modules here are imported by `harness.proxy.registry` on first use; adding a toxic is adding a file.
"""
