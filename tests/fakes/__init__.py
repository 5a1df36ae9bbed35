"""Fake model servers speaking the real Anthropic and OpenAI streaming wire formats.

They are real HTTP servers on 127.0.0.1 (a random port) that the official SDKs talk to
through a loopback ``base_url``. Import them as ``fakes.anthropic_server`` and
``fakes.openai_server`` (``tests`` is on pytest's ``pythonpath``).
"""
