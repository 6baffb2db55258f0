from imagelens.cli import main

main()
