"""Where evolution's islands run, kept apart from what evolution is: one process, a process pool or Ray
(runners.py), which of them a machine pays for (choice.py), work stealing between Ray's workers (stealing.py,
steal_board.py), and the allocator setting a scoring worker starts with (heap.py). The domain modules (islands,
NSGA-II, operators, fitness) never import from here; an import-linter contract says so."""
