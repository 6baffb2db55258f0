"""Where blocking work runs: a bounded local pool by default (Ray when users outgrow one machine)."""
