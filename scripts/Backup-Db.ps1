#Requires -Version 5.1
<#
.SYNOPSIS
    Takes a verified backup of a PostgreSQL database with pgreconcile and returns its manifest.

.DESCRIPTION
    Runs `pgreconcile backup`: pg_dump to a temporary name, fsync, atomic rename, sha256 and a
    manifest (server and pg_dump versions, per-table row counts, schema fingerprint) beside the
    dump, and `pg_restore --list` to prove it reads. With -TestRestore the dump is also
    restored into a scratch database and compared with the manifest. A dump is only reported
    once it is proven; anything else is a terminating error with the CLI's message and hint.

    The password of -Credential is handed to pgreconcile through PGPASSWORD for that one
    process and removed again afterwards; it never appears on a command line. Without
    -Credential, libpq's own sources apply (PGUSER, PGPASSWORD, %APPDATA%\postgresql\pgpass.conf).

    With -WhatIf nothing is written: pgreconcile is asked (--dry-run) what it would dump,
    with which pg_dump, and how much space is free, and that report is returned.

.PARAMETER Database
    The database to back up (a PostgreSQL identifier, up to 63 characters).

.PARAMETER SqlInstance
    Host name or IP address of the PostgreSQL server. Defaults to localhost.

.PARAMETER Port
    TCP port of the server. Defaults to 5432.

.PARAMETER Credential
    User name and password for PostgreSQL, e.g. (Get-Credential postgres). The password only
    reaches pgreconcile through its environment.

.PARAMETER OutDir
    Directory that receives the dump and its manifest, e.g. D:\backups. Created when missing.

.PARAMETER Format
    custom (one file, the default) or directory (one file per table; allows -Jobs).

.PARAMETER Jobs
    Parallel pg_dump jobs. More than 1 needs -Format directory.

.PARAMETER TestRestore
    Also restore the dump into a scratch database on the same server, compare row counts and
    schema fingerprint with the manifest, and drop the scratch database.

.PARAMETER Keep
    Keep only the newest N verified backups of this database in -OutDir; the backup just made
    is never deleted.

.PARAMETER PgBinDir
    Directory holding pg_dump and pg_restore to prefer, e.g. 'C:\Program Files\PostgreSQL\17\bin'.
    They must be at least the server's major version.

.PARAMETER PgReconcile
    The pgreconcile executable: a name on PATH (default) or a full path.

.PARAMETER WhatIf
    Reports what would be dumped, with which pg_dump, and changes nothing.

.PARAMETER Confirm
    Asks before taking the backup.

.OUTPUTS
    PgReconcile.Backup: path, sha256, manifest (path of the manifest file), verified, database,
    size_bytes, row_counts, schema_fingerprint, server_version, pg_dump, test_restore, removed.
    With -WhatIf, PgReconcile.BackupIntent: database, server_version, database_size_bytes,
    tables, out_dir, format, pg_dump, free_bytes.

.NOTES
    Thin wrapper: every decision is made by `pgreconcile backup`. Exit codes of the CLI
    (1 error, 2 usage, 4 refused) become terminating errors; $_.Exception.Data.ExitCode holds it.

.EXAMPLE
    PS C:\> .\Backup-Db.ps1 -Database pettycash -OutDir D:\backups

    Backs up pettycash on localhost:5432 into D:\backups as one custom-format file with a
    manifest beside it, and returns the manifest.

.EXAMPLE
    PS C:\> $cred = Get-Credential postgres
    PS C:\> .\Backup-Db.ps1 -SqlInstance db01.example.com -Port 5433 -Database pettycash -Credential $cred -OutDir D:\backups -Format directory -Jobs 4 -TestRestore -Keep 7

    Dumps with four parallel jobs into a directory, proves the backup by restoring it into a
    scratch database, and keeps the newest seven verified backups of pettycash.

.EXAMPLE
    PS C:\> .\Backup-Db.ps1 -Database pettycash -OutDir D:\backups -PgBinDir 'C:\Program Files\PostgreSQL\17\bin' -WhatIf

    Shows what would be dumped and with which pg_dump; writes nothing.
#>
[CmdletBinding(SupportsShouldProcess)]
[OutputType('PgReconcile.Backup', 'PgReconcile.BackupIntent')]
param(
    [Parameter(Mandatory)]
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

    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string]$OutDir,

    [ValidateSet('custom', 'directory')]
    [string]$Format = 'custom',

    [ValidateRange(1, 64)]
    [int]$Jobs = 1,

    [switch]$TestRestore,

    [ValidateRange(1, 100000)]
    [int]$Keep,

    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$PgBinDir,

    [ValidateNotNullOrEmpty()]
    [string]$PgReconcile = 'pgreconcile'
)

$ErrorActionPreference = 'Stop'
. (Join-Path -Path $PSScriptRoot -ChildPath 'PgReconcile.Common.ps1')

if ($Jobs -gt 1 -and $Format -ne 'directory') {
    throw [System.ArgumentException]::new(
        '-Jobs greater than 1 needs -Format directory: pg_dump dumps in parallel only into a directory.',
        'Jobs')
}

$outPath = Resolve-PgReconcilePath -Path $OutDir
$connInfo = ConvertTo-PgConnInfo -Server $SqlInstance -Port $Port -Database $Database

$cliArgs = @('backup', '--dsn', $connInfo, '--out-dir', $outPath, '--format', $Format)
if ($PSBoundParameters.ContainsKey('Jobs')) { $cliArgs += @('--jobs', $Jobs) }
if ($PSBoundParameters.ContainsKey('Keep')) { $cliArgs += @('--keep', $Keep) }
if ($PSBoundParameters.ContainsKey('PgBinDir')) { $cliArgs += @('--pg-bin-dir', $PgBinDir) }
if ($TestRestore) { $cliArgs += '--test-restore' }

if ($PSCmdlet.ShouldProcess("database '$Database' on ${SqlInstance}:$Port", "Back up to $outPath")) {
    $typeName = 'PgReconcile.Backup'
}
elseif ($WhatIfPreference) {
    $cliArgs += '--dry-run'
    $typeName = 'PgReconcile.BackupIntent'
}
else {
    return
}

Invoke-PgReconcileCli -Arguments $cliArgs -Credential $Credential -CliPath $PgReconcile -TypeName $typeName
