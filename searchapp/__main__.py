from searchapp.cli.app import main

main()
