# Tries to reach the network: TCP to a port the grader's machine listens on, UDP, DNS, and an
# abstract Unix socket of the host.
import socket

reached = []
try:
    with socket.create_connection(("127.0.0.1", @@PORT@@), timeout=2) as s:
        s.sendall(b"LEAK from the sandbox")
        reached.append("tcp")
except OSError as exc:
    print("BLOCKED tcp", type(exc).__name__)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"LEAK", ("127.0.0.1", @@PORT@@))
    u.sendto(b"LEAK", ("1.1.1.1", 53))
    reached.append("udp")
except OSError as exc:
    print("BLOCKED udp", type(exc).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    reached.append("dns")
except OSError as exc:
    print("BLOCKED dns", type(exc).__name__)
try:
    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.connect("\0@@ABSTRACT@@")
    a.sendall(b"LEAK")
    reached.append("unix")
except OSError as exc:
    print("BLOCKED unix", type(exc).__name__)
print("REACHED", reached)


# %% p1
def square(x):
    return x * x if not reached else x * x + 1


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x


# %% p4
def halve(x):
    return x / 2
