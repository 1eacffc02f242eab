"""Integrations of tagcore with other tools; each module needs its tool installed.

- :mod:`tagcore.integrations.litellm`: :class:`~tagcore.integrations.litellm.TagcoreLogger`,
  a LiteLLM ``CustomLogger`` that records every request LiteLLM makes (SDK or proxy) into a
  :class:`~tagcore.Recorder` (``pip install 'tagcore[litellm]'``).

Importing this package imports none of them.
"""
