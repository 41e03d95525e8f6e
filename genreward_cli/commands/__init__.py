"""One thin module per subcommand: parse, load, call the library, write, report."""
