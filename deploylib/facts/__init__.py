"""Custom pyinfra facts (written like pyinfra's own: command() + process())."""
