from unlearn_cli.cli.app import app

app()
