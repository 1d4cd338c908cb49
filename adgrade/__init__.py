"""adgrade: grading and verification harness for automatic-differentiation homework.

Importing this package must stay cheap: it imports no array framework.
"""

__version__ = "0.1.0"
