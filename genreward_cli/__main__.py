from genreward_cli.cli import main

main()
