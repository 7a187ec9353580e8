"""The BITS upload server (``BITS_POST``): sessions, their store and the protocol.

``session`` owns a session's record and its transition table, ``store`` the index and the staging
files in ``<state dir>/uploads/``, ``protocol`` the packets; ``api`` the ``upload.*`` RPC methods.
"""
