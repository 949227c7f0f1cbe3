#Requires -Version 5.1
#Requires -Modules ScheduledTasks
<#
.SYNOPSIS
    Registers a Windows scheduled task that reconciles a database in its maintenance window.

.DESCRIPTION
    Creates (or replaces) the scheduled task <TaskPath><TaskName>, by default
    \pgreconcile\pgreconcile-<Database>. It starts at the beginning of every maintenance window
    and runs

        powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File Invoke-Reconcile.ps1 -Database ... -MaintenanceWindow ... -LogDir ... -Force

    Invoke-Reconcile.ps1 writes a transcript of each run to -LogDir (Start-Transcript) and
    keeps each run's report in its own folder under -ReportDir. The task is stopped by Task
    Scheduler when the window (plus -GraceMinutes) is over (ExecutionTimeLimit); pgreconcile
    itself already pauses a backfill at the window's end and resumes it in the next run, and
    refuses to change anything outside the window (exit code 4), so a late start
    (StartWhenAvailable after the computer was off) changes nothing.

    Windows are written in UTC ('Sat 01:00-03:00 UTC'; the zone may be left out). The triggers
    are pinned to UTC (StartBoundary ending in Z, "Synchronize across time zones" in the Task
    Scheduler UI), so daylight saving time does not move them.

    Secrets. Nothing secret is ever put into the task's action: its command line is readable
    by anyone who can read the task. Two accounts are involved:

      * The Windows account the task runs as: -TaskCredential, whose password is handed to
        Register-ScheduledTask and kept by Task Scheduler (LSA), or, without it,
        NT AUTHORITY\SYSTEM, which needs no password. Registering either needs an
        elevated session; a -TaskCredential account needs the "Log on as a batch job" right.
      * The PostgreSQL login: read at run time from a DPAPI-protected credential file
        (Export-Clixml), named to Invoke-Reconcile.ps1 by -CredentialPath. DPAPI lets only the
        account that wrote the file, on this computer, read it. With -Credential this script
        writes the file itself, which therefore requires -TaskCredential to be the account
        running this script. For another account, write the file as that account
        (runas /user:<account> powershell -Command "Get-Credential | Export-Clixml <file>")
        and pass -CredentialPath. Without either, libpq's own sources apply for the task's
        account (its %APPDATA%\postgresql\pgpass.conf, or SSPI/trust authentication).

    This script runs pgreconcile only to check the windows (`pgreconcile window`, which
    changes nothing); it passes the executable's full path to the task, whose PATH may differ
    from yours.

.PARAMETER Database
    The database to reconcile (a PostgreSQL identifier, up to 63 characters).

.PARAMETER TaskName
    Name of the scheduled task. Defaults to pgreconcile-<Database>.

.PARAMETER TaskPath
    Task Scheduler folder of the task, e.g. \pgreconcile\ (the default).

.PARAMETER Unregister
    Remove the task instead of registering it. The credential file, logs and reports are left.

.PARAMETER ProjectDir
    The Django project: the directory holding manage.py. Also the task's working directory.

.PARAMETER MaintenanceWindow
    When the task runs and changes are allowed, in UTC: days, start and end, e.g.
    'Sat 01:00-03:00 UTC', 'Mon-Fri 22:00-23:30', 'Sat,Sun 02:00-04:00 UTC' or
    'daily 23:30-00:30'. Days are Mon..Sun (or full names), ranges, lists or daily; a window may
    cross midnight and then belongs to the day it starts on. Several windows may be given (as
    several values or separated by ';'); each becomes a trigger. They are checked with
    `pgreconcile window`, so the engine's grammar decides what is valid; a window in another
    time zone is refused, as the triggers are pinned to UTC.

.PARAMETER BackupDir
    Directory that receives the verified backup each run takes before it changes anything.

.PARAMETER LogDir
    Directory that receives one transcript per run (<Database>-<UTC stamp>.log).

.PARAMETER ReportDir
    Directory under which each run keeps its report folder. Defaults to <LogDir>\reports.

.PARAMETER SqlInstance
    Host name or IP address of the PostgreSQL server. Defaults to localhost.

.PARAMETER Port
    TCP port of the server. Defaults to 5432.

.PARAMETER Credential
    The PostgreSQL login. It is saved, encrypted with DPAPI for the task's account, in
    -CredentialPath (default %LOCALAPPDATA%\pgreconcile\<TaskName>.credential.xml) and read by
    the task. Needs -TaskCredential naming the account that runs this script.

.PARAMETER CredentialPath
    The DPAPI-protected PostgreSQL credential file the task reads (Export-Clixml, written by the
    task's account). Written here when -Credential is given; must exist otherwise.

.PARAMETER TaskCredential
    The Windows account the task runs as, e.g. (Get-Credential CONTOSO\svc-pgreconcile). Task
    Scheduler stores its password. Defaults to NT AUTHORITY\SYSTEM.

.PARAMETER Settings
    The Django settings module, e.g. pettycash_system.settings.

.PARAMETER Python
    The project's Python interpreter, e.g. D:\pettycash\.venv\Scripts\python.exe.

.PARAMETER PkStrategy
    keep (default) or swap (destructive: needs -AllowDestructive). See Invoke-Reconcile.ps1.

.PARAMETER Backfill
    stable (default) or random uuid values. See Invoke-Reconcile.ps1.

.PARAMETER DropExtra
    Let the scheduled runs drop what only the database has (see Invoke-Reconcile.ps1);
    needs -AllowDestructive.

.PARAMETER AllowDestructive
    Allow the scheduled runs to take steps that drop or rewrite (after a verified backup).

.PARAMETER Keep
    Keep only the newest N verified backups of this database in -BackupDir.

.PARAMETER RunTests
    Also run `manage.py test` as part of each run's verification.

.PARAMETER TestSettings
    Settings module for the tests, e.g. staging_settings.

.PARAMETER LockTimeout
    lock_timeout for each statement, e.g. 2s or 500ms.

.PARAMETER BatchSize
    Rows per backfill batch.

.PARAMETER BatchDelay
    Seconds to pause between backfill batches, e.g. 0.5.

.PARAMETER Rollback
    reverse (default) or restore: what a failed run does. See Invoke-Reconcile.ps1.

.PARAMETER GraceMinutes
    Minutes the task may run past the end of the longest window before Task Scheduler stops it
    (default 15): pgreconcile starts no new batch after the window's end, and the grace lets
    a running step, the verification and the report finish. 0 makes ExecutionTimeLimit exactly
    the window's length.

.PARAMETER PgBinDir
    Directory holding pg_dump and pg_restore to prefer, e.g. 'C:\Program Files\PostgreSQL\17\bin'.

.PARAMETER PgReconcile
    The pgreconcile executable: a name on PATH (default) or a full path. Its full path is what
    the task runs.

.PARAMETER PowerShellPath
    The PowerShell the task starts: powershell.exe (default, Windows PowerShell 5.1) or the full
    path of pwsh.exe.

.PARAMETER WhatIf
    Shows the task that would be registered (command line, triggers, time limit, account) and
    registers nothing.

.PARAMETER Confirm
    Asks before registering or removing the task and before writing the credential file.

.OUTPUTS
    PgReconcile.MaintenanceTask: TaskName, TaskPath, RunAs, Schedule, ExecutionTimeLimit,
    Execute, Arguments, WorkingDirectory, LogDir, ReportDir, CredentialPath, Registered
    (false under -WhatIf).
    With -Unregister, nothing.

.NOTES
    Thin wrapper over the ScheduledTasks module (Windows 8 / Server 2012 and later). The task's
    runs are Invoke-Reconcile.ps1 runs: last run result 0 is success, 1 a failure whose reason
    is in the transcript and in the run's report.json. Re-running this script replaces the
    task. Logs and reports are kept; remove old ones as your retention requires.

.EXAMPLE
    PS C:\> .\Register-MaintenanceTask.ps1 -Database pettycash -ProjectDir D:\src\pettycash -MaintenanceWindow 'Sat 01:00-03:00 UTC' -BackupDir D:\backups -LogDir D:\logs\pgreconcile -WhatIf

    Shows the task that would run every Saturday at 01:00 UTC as SYSTEM, its command line and
    its time limit (2 hours and 15 minutes); registers nothing.

.EXAMPLE
    PS C:\> $svc = Get-Credential "$env:USERDOMAIN\$env:USERNAME"
    PS C:\> .\Register-MaintenanceTask.ps1 -Database pettycash -SqlInstance db01 -ProjectDir D:\src\pettycash -Python D:\src\pettycash\.venv\Scripts\python.exe -MaintenanceWindow 'Sat 01:00-03:00 UTC', 'Wed 22:00-23:00 UTC' -BackupDir D:\backups -LogDir D:\logs\pgreconcile -TaskCredential $svc -Credential (Get-Credential postgres) -RunTests -TestSettings staging_settings

    Runs the task as you, in two weekly windows. The PostgreSQL login is saved encrypted for
    your account in %LOCALAPPDATA%\pgreconcile\pgreconcile-pettycash.credential.xml.

.EXAMPLE
    PS C:\> .\Register-MaintenanceTask.ps1 -Database pettycash -ProjectDir D:\src\pettycash -MaintenanceWindow 'Mon-Fri 22:00-23:30' -BackupDir D:\backups -LogDir D:\logs\pgreconcile -TaskCredential (Get-Credential CONTOSO\svc-pgreconcile) -CredentialPath D:\pgreconcile\pettycash.credential.xml -BatchSize 5000 -BatchDelay 0.5

    Runs as a service account every weekday evening; the credential file was written by that
    account beforehand (Get-Credential postgres | Export-Clixml D:\pgreconcile\pettycash.credential.xml).

.EXAMPLE
    PS C:\> .\Register-MaintenanceTask.ps1 -Database pettycash -Unregister

    Removes the task \pgreconcile\pgreconcile-pettycash.
#>
[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'Register')]
[OutputType('PgReconcile.MaintenanceTask')]
param(
    [Parameter(Mandatory)]
    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_$]{0,62}$')]
    [string]$Database,

    [ValidatePattern('^[^\\/:*?"<>|]{1,200}$')]
    [string]$TaskName = "pgreconcile-$Database",

    [ValidatePattern('^\\([^\\/:*?"<>|]+\\)*$')]
    [string]$TaskPath = '\pgreconcile\',

    [Parameter(Mandatory, ParameterSetName = 'Unregister')]
    [switch]$Unregister,

    [Parameter(Mandatory, ParameterSetName = 'Register')]
    [ValidateScript({ Test-Path -LiteralPath (Join-Path -Path $_ -ChildPath 'manage.py') -PathType Leaf })]
    [string]$ProjectDir,

    # Checked by `pgreconcile window` (Assert-PgReconcileWindow): no grammar of our own.
    [Parameter(Mandatory, ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string[]]$MaintenanceWindow,

    [Parameter(Mandatory, ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$BackupDir,

    [Parameter(Mandatory, ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$LogDir,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$ReportDir,

    [Parameter(ParameterSetName = 'Register')]
    [Alias('Server', 'HostName')]
    [ValidatePattern('^(?:[A-Za-z0-9_.:%\[\]-]{1,253}|(?:[A-Za-z]:)?[\\/][^"\x00-\x1F\x7F]{0,250})$(?!\n)')]
    [string]$SqlInstance = 'localhost',

    [Parameter(ParameterSetName = 'Register')]
    [ValidateRange(1, 65535)]
    [int]$Port = 5432,

    [Parameter(ParameterSetName = 'Register')]
    [System.Management.Automation.PSCredential]
    [System.Management.Automation.Credential()]
    $Credential = [System.Management.Automation.PSCredential]::Empty,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$CredentialPath,

    [Parameter(ParameterSetName = 'Register')]
    [System.Management.Automation.PSCredential]
    [System.Management.Automation.Credential()]
    $TaskCredential = [System.Management.Automation.PSCredential]::Empty,

    [Parameter(ParameterSetName = 'Register')]
    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')]
    [string]$Settings,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$Python,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateSet('keep', 'swap')]
    [string]$PkStrategy = 'keep',

    [Parameter(ParameterSetName = 'Register')]
    [ValidateSet('stable', 'random')]
    [string]$Backfill = 'stable',

    [Parameter(ParameterSetName = 'Register')]
    [switch]$DropExtra,

    [Parameter(ParameterSetName = 'Register')]
    [switch]$AllowDestructive,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateRange(1, 100000)]
    [int]$Keep,

    [Parameter(ParameterSetName = 'Register')]
    [switch]$RunTests,

    [Parameter(ParameterSetName = 'Register')]
    [ValidatePattern('^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')]
    [string]$TestSettings,

    [Parameter(ParameterSetName = 'Register')]
    [ValidatePattern('^[0-9]+\s*(ms|s|min|h)?$')]
    [string]$LockTimeout,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateRange(1, 10000000)]
    [int]$BatchSize,

    [Parameter(ParameterSetName = 'Register')]
    [ValidatePattern('^[0-9]{1,4}(\.[0-9]+)?$')]
    [string]$BatchDelay,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateSet('reverse', 'restore')]
    [string]$Rollback = 'reverse',

    [Parameter(ParameterSetName = 'Register')]
    [ValidateRange(0, 240)]
    [int]$GraceMinutes = 15,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Container })]
    [string]$PgBinDir,

    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$PgReconcile = 'pgreconcile',

    [Parameter(ParameterSetName = 'Register')]
    [ValidateNotNullOrEmpty()]
    [string]$PowerShellPath = 'powershell.exe'
)

$ErrorActionPreference = 'Stop'
. (Join-Path -Path $PSScriptRoot -ChildPath 'PgReconcile.Common.ps1')

function ConvertTo-TaskArgument {
    <#
    .SYNOPSIS
        Quotes one argument for a Windows command line (the CommandLineToArgvW rules).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [AllowEmptyString()]
        [string]$Value
    )

    if ($Value -and $Value -notmatch '[\s"]') {
        return $Value
    }
    # Backslashes before a quote are doubled and the quote escaped; trailing backslashes are
    # doubled so that they do not escape the closing quote.
    '"' + ($Value -replace '(\\*)"', '$1$1\"' -replace '(\\+)$', '$1$1') + '"'
}

function ConvertFrom-MaintenanceWindow {
    <#
    .SYNOPSIS
        Turns one window as the engine read it (a 'parts' entry of `pgreconcile window
        --json`) into the days, UTC start and length of a weekly trigger.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [pscustomobject]$Part
    )

    # The engine has read the window (days, start, end, zone, length): nothing is parsed here.
    $zone = [string]$Part.tz
    if ($zone -and $zone -ne 'UTC') {
        throw [System.ArgumentException]::new(
            "The maintenance window '$($Part.text)' is in ${zone}: the task's triggers are pinned to UTC, " +
            "so write the window in UTC (e.g. 'Sat 00:00-02:00 UTC').", 'MaintenanceWindow')
    }
    # Keys are case-insensitive; the values are [System.DayOfWeek] numbers.
    $dayNumber = @{ sun = 0; mon = 1; tue = 2; wed = 3; thu = 4; fri = 5; sat = 6 }
    $days = foreach ($day in $Part.days) { $dayNumber[[string]$day] }
    $startOfDay = [timespan]::ParseExact([string]$Part.start, 'hh\:mm', [System.Globalization.CultureInfo]::InvariantCulture)
    $start = [datetime]::SpecifyKind([datetime]::UtcNow.Date.Add($startOfDay), [System.DateTimeKind]::Utc)
    [pscustomobject]@{
        Window = [string]$Part.text
        Days   = [System.DayOfWeek[]]($days | Sort-Object)
        Start  = $start
        Length = [timespan]::FromMinutes([int]$Part.minutes)
    }
}

$taskFullName = $TaskPath + $TaskName

if ($Unregister) {
    $existing = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
    if (-not $existing) {
        Write-Warning -Message "There is no scheduled task $taskFullName."
        return
    }
    if ($PSCmdlet.ShouldProcess("scheduled task $taskFullName", 'Unregister')) {
        Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false
    }
    return
}

# ---------------------------------------------------------------- when
# One trigger per window; a value may hold several windows separated by ';'. pgreconcile's
# own grammar decides what a window is: one it cannot read stops here, before any change.
$windowTexts = @($MaintenanceWindow -split ';' | ForEach-Object { $_.Trim() } | Where-Object { $_ })
$windowStatus = Assert-PgReconcileWindow -Window $windowTexts -CliPath $PgReconcile

# ---------------------------------------------------------------- who runs it, which secrets
$hasTaskCredential = $PSBoundParameters.ContainsKey('TaskCredential')
$runAs = 'NT AUTHORITY\SYSTEM'
if ($hasTaskCredential) {
    $runAs = $TaskCredential.UserName
}

$credentialFile = $null
if ($PSBoundParameters.ContainsKey('CredentialPath')) {
    $credentialFile = Resolve-PgReconcilePath -Path $CredentialPath
}
elseif ($PSBoundParameters.ContainsKey('Credential')) {
    $credentialFile = Join-Path -Path $env:LOCALAPPDATA -ChildPath ('pgreconcile\' + $TaskName + '.credential.xml')
}

if ($PSBoundParameters.ContainsKey('Credential')) {
    # DPAPI: a file written here can only be read by this account on this computer.
    $me = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
    $taskUser = $runAs -replace '^\.\\', ($env:COMPUTERNAME + '\')
    $sameAccount = $hasTaskCredential -and ($taskUser -eq $me -or
        (-not $taskUser.Contains('\') -and -not $taskUser.Contains('@') -and $taskUser -eq $me.Split('\')[-1]))
    if (-not $sameAccount) {
        throw [System.ArgumentException]::new(
            "-Credential is saved with DPAPI for the account running this script ($me), but the task " +
            "would run as $runAs, which could not read it. Pass -TaskCredential for $me, or write " +
            "the file as $runAs (runas /user:$runAs powershell -Command `"Get-Credential | " +
            "Export-Clixml <file>`") and pass -CredentialPath <file> without -Credential.",
            'Credential')
    }
}
elseif ($credentialFile -and -not (Test-Path -LiteralPath $credentialFile -PathType Leaf)) {
    throw [System.ArgumentException]::new(
        "The credential file $credentialFile does not exist. Write it as $runAs with " +
        "Get-Credential | Export-Clixml -Path $credentialFile, or pass -Credential.", 'CredentialPath')
}

# ---------------------------------------------------------------- what it runs
$cliPath = Resolve-PgReconcileCli -Path $PgReconcile
$projectPath = Resolve-PgReconcilePath -Path $ProjectDir
$logPath = Resolve-PgReconcilePath -Path $LogDir
if ($PSBoundParameters.ContainsKey('ReportDir')) {
    $reportPath = Resolve-PgReconcilePath -Path $ReportDir
}
else {
    $reportPath = Join-Path -Path $logPath -ChildPath 'reports'
}
$invokeScript = Join-Path -Path $PSScriptRoot -ChildPath 'Invoke-Reconcile.ps1'

# Invoke-Reconcile.ps1's parameters. Names and values only: never a password.
$scriptArgs = @('-Database', $Database, '-SqlInstance', $SqlInstance, '-Port', $Port,
    '-ProjectDir', $projectPath, '-BackupDir', (Resolve-PgReconcilePath -Path $BackupDir),
    '-ReportDir', $reportPath, '-LogDir', $logPath,
    '-MaintenanceWindow', ($windowTexts -join '; '),
    '-PkStrategy', $PkStrategy, '-Backfill', $Backfill, '-Rollback', $Rollback,
    '-PgReconcile', $cliPath, '-Force')
if ($credentialFile) { $scriptArgs += @('-CredentialPath', $credentialFile) }
if ($PSBoundParameters.ContainsKey('Settings')) { $scriptArgs += @('-Settings', $Settings) }
if ($PSBoundParameters.ContainsKey('Python')) {
    $pythonPath = $Python
    if (Test-Path -LiteralPath $Python -PathType Leaf) { $pythonPath = Resolve-PgReconcilePath -Path $Python }
    $scriptArgs += @('-Python', $pythonPath)
}
if ($DropExtra) { $scriptArgs += '-DropExtra' }
if ($AllowDestructive) { $scriptArgs += '-AllowDestructive' }
if ($PSBoundParameters.ContainsKey('Keep')) { $scriptArgs += @('-Keep', $Keep) }
if ($RunTests) { $scriptArgs += '-RunTests' }
if ($PSBoundParameters.ContainsKey('TestSettings')) { $scriptArgs += @('-TestSettings', $TestSettings) }
if ($PSBoundParameters.ContainsKey('LockTimeout')) { $scriptArgs += @('-LockTimeout', $LockTimeout) }
if ($PSBoundParameters.ContainsKey('BatchSize')) { $scriptArgs += @('-BatchSize', $BatchSize) }
if ($PSBoundParameters.ContainsKey('BatchDelay')) { $scriptArgs += @('-BatchDelay', $BatchDelay) }
if ($PSBoundParameters.ContainsKey('PgBinDir')) {
    $scriptArgs += @('-PgBinDir', (Resolve-PgReconcilePath -Path $PgBinDir))
}

# The scheduled run hands these values to the CLI under Windows PowerShell 5.1: refuse one it
# would split now, at registration, rather than at 01:00 in the window.
Assert-PgReconcileCliArgument -Argument $scriptArgs
$taskArgs = @('-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-File', $invokeScript) + $scriptArgs
$argumentLine = ($taskArgs | ForEach-Object { ConvertTo-TaskArgument -Value ([string]$_) }) -join ' '
$action = New-ScheduledTaskAction -Execute $PowerShellPath -Argument $argumentLine -WorkingDirectory $projectPath

# ---------------------------------------------------------------- when, for how long
$windows = foreach ($part in $windowStatus.parts) { ConvertFrom-MaintenanceWindow -Part $part }
$triggers = foreach ($window in $windows) {
    $trigger = New-ScheduledTaskTrigger -Weekly -WeeksInterval 1 -DaysOfWeek $window.Days -At $window.Start
    # Pinned to UTC: the trigger fires at the window's UTC start whatever the local zone or DST.
    $trigger.StartBoundary = $window.Start.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [System.Globalization.CultureInfo]::InvariantCulture)
    $trigger
}
$longest = [timespan]::Zero
foreach ($window in $windows) {
    if ($window.Length -gt $longest) { $longest = $window.Length }
}
$timeLimit = $longest + [timespan]::FromMinutes($GraceMinutes)
$taskSettings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit $timeLimit -MultipleInstances IgnoreNew -StartWhenAvailable

$schedule = foreach ($window in $windows) {
    '{0} {1:HH\:mm} UTC for {2:hh\:mm}' -f ($window.Days -join ','), $window.Start, $window.Length
}
$summary = [pscustomobject]@{
    PSTypeName         = 'PgReconcile.MaintenanceTask'
    TaskName           = $TaskName
    TaskPath           = $TaskPath
    RunAs              = $runAs
    Schedule           = @($schedule)
    ExecutionTimeLimit = $timeLimit
    Execute            = $PowerShellPath
    Arguments          = $argumentLine
    WorkingDirectory   = $projectPath
    LogDir             = $logPath
    ReportDir          = $reportPath
    CredentialPath     = $credentialFile
    Registered         = $false
}

# ---------------------------------------------------------------- changes
if ($PSBoundParameters.ContainsKey('Credential')) {
    if ($PSCmdlet.ShouldProcess($credentialFile, "Save the PostgreSQL login '$($Credential.UserName)' encrypted with DPAPI for $runAs")) {
        $null = New-Item -ItemType Directory -Path (Split-Path -Path $credentialFile -Parent) -Force
        Export-Clixml -InputObject $Credential -LiteralPath $credentialFile -Force
    }
}

$description = "pgreconcile: reconcile database '$Database' on ${SqlInstance}:$Port in the maintenance " +
    "window $($windowTexts -join '; '). Logs: $logPath. Reports: $reportPath. " +
    "Registered by Register-MaintenanceTask.ps1."
$register = @{
    TaskName    = $TaskName
    TaskPath    = $TaskPath
    Action      = $action
    Trigger     = @($triggers)
    Settings    = $taskSettings
    Description = $description
    Force       = $true
}
if ($PSCmdlet.ShouldProcess("scheduled task $taskFullName", "Register: $($schedule -join '; '), as $runAs, time limit $timeLimit")) {
    if ($hasTaskCredential) {
        # Task Scheduler keeps this password (LSA secret); it is not part of the task's definition.
        $null = Register-ScheduledTask @register -User $TaskCredential.UserName -Password ($TaskCredential.GetNetworkCredential().Password) -RunLevel Limited
    }
    else {
        $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount
        $null = Register-ScheduledTask @register -Principal $principal
    }
    $summary.Registered = $true
}
$summary
