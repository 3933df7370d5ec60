"""ir-readiness policy pack (rules/) and its credential-free preview (preview.py).

The pack itself is this directory as the Pulumi CLI sees it: PulumiPolicy.yaml,
requirements.txt, __main__.py and rules/. The other modules are repository tooling.
"""
