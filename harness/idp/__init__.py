"""The embedded SSO target: a real OIDC provider and an AWS IAM Identity Center face (sso-oidc + portal) on
one listener, the default system under test. `app.create_app(config)` builds the ASGI app; `server.run(args)`
serves it. Form fields of the browser pages: browser.py; chaos control API: chaosapi.py; seeding rules
(clients, users, passwords, accounts): directory.py."""
