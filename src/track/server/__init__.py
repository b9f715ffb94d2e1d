"""The track server and its client, split into small modules.

``wire`` (framing and the msgpack codec), ``crypto`` (the AES layer), ``auth`` (users file,
scrypt), ``worker`` (the thread owning the store), ``server`` (asyncio) and ``client``
(``socket://``). Users import them through :mod:`track.persistence.socketed`; nothing here
is imported by ``import track``.
"""
