#compdef ptm

_ptm_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _PTM_COMPLETE=complete_zsh ptm)
}

compdef _ptm_completion ptm
