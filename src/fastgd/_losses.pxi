# Loss kernel bindings.
