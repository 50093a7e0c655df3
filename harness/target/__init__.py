"""The embedded SSO target: a real OIDC provider (and later an AWS IAM Identity Center face) that is the
default system under test. `app.create_app(config)` builds the ASGI app; `server.run(args)` serves it."""
