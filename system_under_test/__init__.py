"""The reference messaging cluster that splitbrain attacks (a compact WhatsApp-like design)."""
