"""Headless subcommands; each module registers one argparse subparser."""
