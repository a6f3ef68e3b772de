# Windows ward station: run `downtime-station run` at start-up as the ward
# account (the account the station was enrolled as), restarted if it stops.
# In an elevated PowerShell:
#   .\install-task.ps1 -Account WARDPC\ward -Program C:\Users\ward\.local\bin\downtime-station.exe
param(
    [Parameter(Mandatory = $true)][string]$Account,
    [Parameter(Mandatory = $true)][string]$Program
)

if (-not (Test-Path $Program)) { throw "downtime-station is not at $Program" }
$action = New-ScheduledTaskAction -Execute $Program -Argument "run"
$trigger = New-ScheduledTaskTrigger -AtStartup
$settings = New-ScheduledTaskSettingsSet -RestartCount 999 `
    -RestartInterval (New-TimeSpan -Minutes 1) -ExecutionTimeLimit ([TimeSpan]::Zero) `
    -StartWhenAvailable -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
$credential = Get-Credential -UserName $Account -Message "The ward station's account"
Register-ScheduledTask -TaskName "Downtime station" -Action $action -Trigger $trigger `
    -Settings $settings -User $Account -Password $credential.GetNetworkCredential().Password `
    -Description "Keeps this ward's downtime packs current (downtime-station run)"
Start-ScheduledTask -TaskName "Downtime station"
