"""What the tests share, as plain modules (imported `from support.<module> import ...`).

`aws`: moto resources built by the local stack's own code, and the handlers' environment;
`events`: AWS event and item factories from the samples in tests/events; `faults`: errors
injected into real boto3 clients; `stack_graph`: the Pulumi program's resources under mocks.
Fixtures stay in the conftest files; they only wire these modules to pytest.
"""
