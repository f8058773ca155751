"""Plug-ins that run inside other people's gateways: the LiteLLM proxy callback (intake) and its
bouncer (enforcement). They import the gateway's own package, so they load only there."""
