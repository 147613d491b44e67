"""The ``irreps`` command line: one module per subcommand, each thin (parse, call, report)."""
