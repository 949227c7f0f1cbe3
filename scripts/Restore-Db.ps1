#Requires -Version 5.1
<#
.SYNOPSIS
    Restores a verified pgreconcile backup into a PostgreSQL database and proves the result.

.DESCRIPTION
    Runs `pgreconcile restore`: re-checks the backup's checksums and readability against its
    manifest, creates the target database, runs pg_restore, and compares row counts and the
    schema fingerprint with the manifest.

    By default the target must be new (or empty). An existing database with tables is only
    replaced with -Replace, and then pgreconcile first takes a fresh backup of it; because
    that drops a live database. Every restore is ConfirmImpact High: it asks for confirmation
    unless -Confirm:$false is given.

    The password of -Credential reaches pgreconcile only through PGPASSWORD for that one
    process; it never appears on a command line.

    With -WhatIf nothing changes: the backup is verified (--dry-run) and the report returned.

.PARAMETER Path
    The backup: the dump file, the dump directory, or its .manifest.json. Accepts the output
    of Backup-Db.ps1 from the pipeline (its path property).

.PARAMETER Database
    The database to restore into, created by the restore (a PostgreSQL identifier).

.PARAMETER SqlInstance
    Host name or IP address of the PostgreSQL server. Defaults to localhost.

.PARAMETER Port
    TCP port of the server. Defaults to 5432.

.PARAMETER Credential
    User name and password for PostgreSQL; the user needs CREATEDB. The password only reaches
    pgreconcile through its environment.

.PARAMETER Replace
    Allow replacing an existing database that has tables. pgreconcile backs it up first
    (into -BackupDir, or beside the backup being restored). Asks for confirmation.

.PARAMETER Jobs
    Parallel pg_restore jobs.

.PARAMETER NoOwner
    Do not restore ownership and privileges (restore as the connecting user).

.PARAMETER BackupDir
    Where the safety backup of a replaced database goes.

.PARAMETER PgBinDir
    Directory holding pg_restore to prefer, e.g. 'C:\Program Files\PostgreSQL\17\bin'.

.PARAMETER PgReconcile
    The pgreconcile executable: a name on PATH (default) or a full path.

.PARAMETER WhatIf
    Verifies the backup and reports what would be restored; changes nothing.

.PARAMETER Confirm
    Asks before restoring (ConfirmImpact High: asked unless -Confirm:$false).

.OUTPUTS
    PgReconcile.Restore: path, target_db, verified, row_counts_match, fingerprint_match,
    replaced, safety_backup, duration_s.
    With -WhatIf, PgReconcile.RestoreIntent: path, manifest, verified, checks, target_db.

.NOTES
    Thin wrapper over `pgreconcile restore`. It connects to the server's maintenance database
    'postgres' to create the target. CLI exit codes (1 error, 2 usage, 4 refused) become
    terminating errors; $_.Exception.Data.ExitCode holds the code.

.EXAMPLE
    PS C:\> .\Restore-Db.ps1 -Path D:\backups\pettycash-20250101T010000000000Z.dump -Database pettycash_copy

    Verifies the backup and restores it into the new database pettycash_copy on localhost.

.EXAMPLE
    PS C:\> .\Backup-Db.ps1 -Database pettycash -OutDir D:\backups | .\Restore-Db.ps1 -Database pettycash_check -Jobs 4 -NoOwner

    Backs up pettycash and restores the fresh backup into pettycash_check with four jobs.

.EXAMPLE
    PS C:\> .\Restore-Db.ps1 -Path D:\backups\pettycash-20250101T010000000000Z.manifest.json -SqlInstance db01 -Credential (Get-Credential postgres) -Database pettycash -Replace -BackupDir D:\backups\before-restore

    Replaces the live pettycash database after confirmation; its current state is backed up
    into D:\backups\before-restore first.

.EXAMPLE
    PS C:\> .\Restore-Db.ps1 -Path D:\backups\pettycash-20250101T010000000000Z.dump -Database pettycash -Replace -WhatIf

    Verifies the backup and shows what would be replaced; changes nothing.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
[OutputType('PgReconcile.Restore', 'PgReconcile.RestoreIntent')]
param(
    [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
    [Alias('FullName')]
    [ValidateNotNullOrEmpty()]
    [string]$Path,

    [Parameter(Mandatory)]
    [Alias('TargetDatabase')]
    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_$]{0,62}$')]
    [string]$Database,

    [Alias('Server', 'HostName')]
    [ValidatePattern('^(?:[A-Za-z0-9_.:%\[\]-]{1,253}|(?:[A-Za-z]:)?[\\/][^"\x00-\x1F\x7F]{0,250})$(?!\n)')]
    [string]$SqlInstance = 'localhost',

    [ValidateRange(1, 65535)]
    [int]$Port = 5432,

    [System.Management.Automation.PSCredential]
    [System.Management.Automation.Credential()]
    $Credential = [System.Management.Automation.PSCredential]::Empty,

    [switch]$Replace,

    [ValidateRange(1, 64)]
    [int]$Jobs = 1,

    [switch]$NoOwner,

    [ValidateNotNullOrEmpty()]
    [string]$BackupDir,

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$PgBinDir,

    [ValidateNotNullOrEmpty()]
    [string]$PgReconcile = 'pgreconcile'
)

begin {
    $ErrorActionPreference = 'Stop'
    . (Join-Path -Path $PSScriptRoot -ChildPath 'PgReconcile.Common.ps1')

    $connInfo = ConvertTo-PgConnInfo -Server $SqlInstance -Port $Port -Database 'postgres'
}

process {
    $backupPath = Resolve-PgReconcilePath -Path $Path

    $cliArgs = @('restore', $backupPath, '--dsn', $connInfo, '--target-db', $Database)
    if ($Replace) { $cliArgs += '--replace' }
    if ($PSBoundParameters.ContainsKey('Jobs')) { $cliArgs += @('--jobs', $Jobs) }
    if ($NoOwner) { $cliArgs += '--no-owner' }
    if ($PSBoundParameters.ContainsKey('BackupDir')) {
        $cliArgs += @('--backup-dir', (Resolve-PgReconcilePath -Path $BackupDir))
    }
    if ($PSBoundParameters.ContainsKey('PgBinDir')) { $cliArgs += @('--pg-bin-dir', $PgBinDir) }

    $target = "database '$Database' on ${SqlInstance}:$Port"
    $action = "Restore the backup $backupPath into a new database"
    if ($Replace) { $action = "Replace it with the backup $backupPath (after backing it up)" }
    if ($PSCmdlet.ShouldProcess($target, $action)) {
        $typeName = 'PgReconcile.Restore'
    }
    elseif ($WhatIfPreference) {
        $cliArgs += '--dry-run'
        $typeName = 'PgReconcile.RestoreIntent'
    }
    else {
        return
    }

    Invoke-PgReconcileCli -Arguments $cliArgs -Credential $Credential -CliPath $PgReconcile -TypeName $typeName
}
