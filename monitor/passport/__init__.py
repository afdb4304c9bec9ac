"""Lot and shipment passports: signed, schema-checked records of what left the plant.

carbon math lives in core/carbon.py, origin shares in origin.py; canonical.py and signing.py make
documents anyone can check with our public key; lot.py / shipment.py build them from the store.

May import monitor.store, monitor.core and monitor.errors.
"""
