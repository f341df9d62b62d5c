"""The ``videofm`` registry scope as an importable name.

MMEngine expects a scope to be a package with a ``registry`` module (it imports ``<scope>.registry`` when
it switches to a scope or meets ``type='<scope>.X'``). The code lives in ``backbones`` and ``tasks``; this
package only points MMEngine at their registries.
"""
