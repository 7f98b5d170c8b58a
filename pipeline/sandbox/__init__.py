"""A local Braze: the REST contract of reference/braze-api.md section 11, on loopback.

`server.SandboxServer` runs it in a thread; `profilesync sandbox` runs it as a process;
`admin_client.SandboxAdmin` drives its admin API (`/_sandbox/`).
"""
