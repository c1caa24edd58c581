"""The functions the RQ workers of the remote-* workloads run (imported by module name)."""


def inc(x):
    return x + 1
