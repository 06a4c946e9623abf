"""What `audit` finds (`auditing`: the package does the auditing, the command is the verb). Can
the labels be trusted: the out-of-fold probabilities of every audited chip (`oof`),
cleanlab's multi-label label issues (`issues`), and the files that show them (`report`), one
audit run end to end (`audit`)."""
