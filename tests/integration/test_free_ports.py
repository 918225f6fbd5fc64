"""The ports a test platform gets are distinct: a port closed before the next is asked for can be
handed out again, and `kit up` then found its NATS server answering on the HTTP port."""

from kit.embedded import free_ports


def test_the_ports_asked_for_together_are_distinct():
    for _ in range(200):
        ports = free_ports(3)
        assert len(set(ports)) == 3
