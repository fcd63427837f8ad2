"""What the tests share: fakes of the ports, builders, Lambda events, image
files and the clients of the shop each tier drives. Tests and conftests import
helpers from here only, never from one another (tests/unit/test_architecture.py).
"""
