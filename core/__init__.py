"""Configuration, storage, identity and time: the layer every other package stands on.

Nothing here imports another Throughcare package.
"""
