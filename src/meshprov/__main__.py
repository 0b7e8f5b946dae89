from meshprov.cli import main

main()
