# An infinite loop inside an entry, and a cell that never ends.

# %% p1
def square(x):
    while True:
        pass


# %% p2
def double(x):
    return 2 * x


# %% p3
def negate(x):
    return -x + 0 * n  # reads n: the loop below changes what the checks need


n = 0
while True:  # the cell itself never ends: p3's checks cannot run on half-run definitions
    n += 1


# %% p4
def halve(x):
    return x / 2
