# Function minimization bindings (L-BFGS two-loop recursion).
